"""Dataset page: from raw MIDI (uploaded or a bundled corpus) to a stored, inspectable training set."""

import pandas as pd
import streamlit as st

from core.config import QUANTIZATIONS, REPRESENTATIONS, DataConfig, ValidationLimits
from core.data import datasets
from core.data.build import EmptyDatasetError, build_from_corpus, build_from_uploads
from core.data.corpora import list_corpora
from core.data.splits import SPLITS, parse_split_file
from core.errors import NeuroTuneError
from ui.auth import require_admin
from ui.charts import dataset_figures, piano_roll_figure
from ui.text import plain, show_error
from ui.widgets import audio_player

# How the page names each DataConfig.quantize choice.
QUANTIZATION_LABELS = {"nearest": "Rounded to the nearest step", "sounding": "As they sound at each step"}

st.title("📚 Dataset")
build_tab, browse_tab = st.tabs(["Build a dataset", "Browse datasets"])


def options_form() -> DataConfig:
    """Preprocessing options; defaults feed every model."""
    defaults = DataConfig()
    with st.expander("Preprocessing options"):
        a, b, c = st.columns(3)
        steps = a.number_input("Steps per quarter note", 1, 96, defaults.steps_per_quarter)
        min_notes = b.number_input("Min notes per piece", 0, 100000, defaults.min_notes)
        max_notes = c.number_input("Max notes per piece", 1, 1000000, defaults.max_notes)
        min_seconds = a.number_input("Min duration (s)", 0.0, 3600.0, defaults.min_duration_seconds)
        max_seconds = b.number_input("Max duration (s)", 1.0, 36000.0, defaults.max_duration_seconds)
        max_silence = c.number_input("Max silence (s)", 0.5, 3600.0, defaults.max_silence_seconds)
        velocity_bins = a.number_input("Velocity bins", 1, 127, defaults.velocity_bins)
        validation = b.slider(
            "Validation fraction", 0.0, 0.5, defaults.validation_fraction, 0.05, help="Unused with a split file"
        )
        transpose = c.slider("Transposition augmentation (± semitones, train split)", 0, 12, 0)
        programs = st.multiselect("Keep only these GM programs (empty keeps all)", list(range(128)))
        representations = st.multiselect("Representations to prepare", REPRESENTATIONS, list(REPRESENTATIONS))
        drop_drums = a.checkbox("Drop drum tracks", defaults.drop_drums)
        to_c = b.checkbox("Transpose to C major / A minor", defaults.transpose_to_c)
        pitches = c.radio("Piano-roll pitches", [88, 128], horizontal=True)
        seed = a.number_input("Split seed", 0, 2**31 - 1, defaults.seed)
        quantize = b.selectbox(
            "Notes on the grid",
            QUANTIZATIONS,
            format_func=QUANTIZATION_LABELS.get,
            help="On a coarse grid (1 step per quarter) rounding piles a voice's eighth notes into one step; "
            "keeping what sounds at each step gives one pitch per voice, as the JSB Chorales were sampled, "
            "and drops the notes that fall between two steps",
        )
    return DataConfig(
        steps_per_quarter=int(steps),
        quantize=quantize,
        min_notes=int(min_notes),
        max_notes=int(max_notes),
        min_duration_seconds=float(min_seconds),
        max_duration_seconds=float(max_seconds),
        max_silence_seconds=float(max_silence),
        drop_drums=drop_drums,
        programs=tuple(programs),
        transpose_to_c=to_c,
        velocity_bins=int(velocity_bins),
        representations=tuple(representations),
        pianoroll_pitches=int(pitches),
        validation_fraction=float(validation),
        seed=int(seed),
        transpose_semitones=int(transpose),
    )


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def show_report(reports) -> None:
    rejected = [r for r in reports if not r.accepted]
    if rejected:
        st.warning(f"{len(rejected)} of {len(reports)} files were rejected:")
        for report in rejected[:50]:
            st.error(f"**{plain(report.name)}**: {plain(report.reason)}")
    table = pd.DataFrame(
        [{"file": r.name, "status": "accepted" if r.accepted else "rejected", "reason": r.reason} for r in reports]
    )
    st.dataframe(table, hide_index=True, height=min(400, 40 + 35 * len(table)))


def build(
    source: str, name: str, config: DataConfig, corpus: str, limit: int, max_mb: float, uploads, split_file
) -> None:
    """Build with a progress bar per file and a Cancel button (pressing it stops the script and the workers)."""
    bar = st.progress(0.0, text="Starting...")
    cancel = st.empty()
    cancel.button("Cancel", key="cancel-build", help="Stops the build; nothing is saved")

    def progress(done: int, total: int, message: str) -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=f"{plain(message)} ({done}/{total})")

    try:
        if source == "Bundled corpus":
            result = build_from_corpus(name, corpus, config, limit=limit or None, progress=progress)
        else:
            if not uploads:
                raise NeuroTuneError("choose one or more .mid, .midi or .zip files first")
            # Longer pieces are refused as they are read, under the one length limit of the options.
            limits = ValidationLimits(
                max_file_bytes=int(max_mb * 2**20), max_duration_seconds=config.max_duration_seconds
            )
            files = [(f.name, f.getvalue()) for f in uploads]
            splits = parse_split_file(split_file.name, split_file.getvalue()) if split_file else None
            result = build_from_uploads(name, files, config, limits=limits, progress=progress, splits=splits)
    except EmptyDatasetError as error:
        show_error(error)
        show_report(error.reports)
    except NeuroTuneError as error:
        show_error(error)
    else:
        stats = result.dataset.stats
        verb = "was already built (cache hit)" if result.cache_hit else "is ready"
        st.success(
            f"Dataset **{plain(result.dataset.name)}** {verb}: {plural(stats['pieces'], 'piece')}, "
            f"{plural(stats['notes'], 'note')}. See it under *Browse datasets*."
        )
        st.session_state["dataset"] = result.dataset.name
        show_report(result.reports)
    finally:
        bar.empty()
        cancel.empty()


with build_tab:
    if require_admin("Building a dataset", "build"):
        corpora = {c.name: c for c in list_corpora()}
        source = st.radio("Source", ["Bundled corpus", "Upload MIDI files"], horizontal=True)
        corpus, limit, max_mb, uploads, split_file = None, 0, 5.0, None, None
        if source == "Bundled corpus":
            corpus = st.selectbox("Corpus", list(corpora), format_func=lambda n: corpora[n].title)
            st.caption(corpora[corpus].description)
            limit = st.number_input("Use only the first N pieces (0 = all)", 0, 100000, 0)
            default_name = corpus if not limit else f"{corpus}-{limit}"
        else:
            max_mb = st.number_input("Reject files larger than (MB)", 0.1, 200.0, 5.0)
            uploads = st.file_uploader(
                "MIDI files, or a .zip of them", type=["mid", "midi", "zip"], accept_multiple_files=True
            )
            split_file = st.file_uploader(
                "Split file (optional)",
                type=["csv", "json"],
                help="Puts each file in train, valid or test instead of a random split, e.g. a published one: "
                'a CSV with columns file,split or a JSON {"train": [...], "validation": [...], "test": [...]}. '
                "Name files by their file name (zip members: archive.zip/path); list every file.",
            )
            default_name = "my-midi"
        name = st.text_input(
            "Dataset name", key="dataset_name", placeholder=default_name, help="Leave empty to use the name shown"
        )
        try:
            config = options_form()
        except NeuroTuneError as error:
            show_error(error)
            config = None
        if st.session_state.get("cancel-build"):
            st.warning("Build cancelled: nothing was saved.")
        if st.button("Build dataset", type="primary", disabled=config is None):
            build(source, name or default_name, config, corpus, limit, max_mb, uploads, split_file)

with browse_tab:
    records = datasets.list_datasets()
    if not records:
        st.info("No datasets yet: build one in the first tab.")
        st.stop()
    names = [r.name for r in records]
    chosen = st.session_state.get("dataset")
    selected = st.selectbox("Dataset", names, index=names.index(chosen) if chosen in names else 0)
    dataset = datasets.load_dataset(selected)
    stats = dataset.stats
    accepted_column, rejected_column, notes_column, duration_column, split_column = st.columns(5)
    accepted_column.metric("Files accepted", f"{stats['files_accepted']:,}")
    # A count of its own, not a delta: a rejected file is not a fall from a previous build.
    rejected_column.metric(
        "Files rejected", f"{stats['files_rejected']:,}", help="Why each was rejected: *Files and rejections* below"
    )
    notes_column.metric("Notes", f"{stats['notes']:,}")
    duration_column.metric("Total duration", f"{stats['total_duration_seconds'] / 60:.1f} min")
    counts = stats["split"]
    split_column.metric(
        "Train / validation / test pieces",
        " / ".join(str(counts.get(split, 0)) for split in SPLITS),
        help=f"Split {dataset.split_method}",
    )
    grid = dataset.config
    st.caption(
        f"On a grid of {grid.steps_per_quarter} step{'s' if grid.steps_per_quarter > 1 else ''} per quarter note, "
        f"notes {QUANTIZATION_LABELS[grid.quantize].lower()}."
    )
    figures = dataset_figures(stats)
    for row in (("pitch", "pitch_class"), ("duration", "notes_per_piece"), ("tempo", "key")):
        for column, key in zip(st.columns(2), row):
            column.plotly_chart(figures[key], key=f"chart-{key}")

    st.subheader("Listen to a piece")
    pieces = dataset.piece_meta
    index = st.selectbox("Piece", range(len(pieces)), format_func=lambda i: f"{i + 1}. {pieces[i]['name']}")
    piece = dataset.piece(index)
    st.caption(
        f"{piece.key} · {piece.time_signature[0]}/{piece.time_signature[1]} · "
        f"{piece.tempo_bpm:.0f} BPM · {len(piece.notes)} notes · {pieces[index]['split']} split"
    )
    roll = piano_roll_figure(
        piece.notes, piece.steps_per_quarter, pieces[index]["name"], time_signature=piece.time_signature
    )
    st.plotly_chart(roll, key="roll")
    audio_player(dataset.source_midi(index), f"{dataset.name}-{index + 1}", key="piece")

    with st.expander("Files and rejections"):
        st.dataframe(pd.DataFrame(dataset.files)[["name", "status", "reason"]], hide_index=True)
    with st.expander("Rename or delete"):
        if require_admin("Renaming or deleting a dataset", "manage"):
            new_name = st.text_input("New name", dataset.name)
            left, right = st.columns(2)
            if left.button("Rename"):
                try:
                    datasets.rename_dataset(dataset.name, new_name)
                    st.session_state["dataset"] = new_name.strip()
                    st.rerun()
                except NeuroTuneError as error:
                    show_error(error)
            sure = right.checkbox("I want to delete this dataset and its files")
            if right.button("Delete dataset", disabled=not sure):
                datasets.delete_dataset(dataset.name)
                st.session_state.pop("dataset", None)
                st.rerun()
