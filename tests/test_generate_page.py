"""AppTest tests of the Generate page, driven as a user would: the music first, one key, results that never lie."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.checkpoints import SHIPPED_CHECKPOINTS, checkpoint_info
from core.data.midi_io import load_score, note_table
from core.data.piece import PITCH
from core.errors import GenerationError
from core.generation.compose import Composer, CompositionRequest
from core.generation.key_choice import SNAP_SCALES, KeyChoice, key_choices
from core.music.theory import SCALES, scale_pitch_classes
from core.store.library import list_pieces, piece_midi

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def _generate_page(model: str) -> AppTest:
    """The Generate page with checkpoint ``model`` chosen (shipped ones come first, by name)."""
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("pages/generate.py").run()
    choices = at.selectbox[0].options
    at.selectbox[0].select_index(next(i for i, label in enumerate(choices) if label.startswith(model))).run()
    assert not at.exception, at.exception
    return at


def _widget(at: AppTest, label: str):
    return next(w for w in [*at.selectbox, *at.number_input, *at.checkbox, *at.radio, *at.slider] if w.label == label)


def _compose(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == "Compose").click().run(timeout=180)
    assert not at.exception, at.exception
    return at


def _variations(at: AppTest) -> int:
    return sum(1 for m in at.markdown if m.value.startswith("**Variation"))


def _players(at: AppTest) -> int:
    """Piano rolls playing with their audio (one components v2 element each)."""
    return sum(
        1 for e in at.main if e.type == "bidi_component" and e.proto.component_name.endswith("piano_roll_player")
    )


def _pitches(piece) -> np.ndarray:
    return note_table(load_score(piece_midi(piece)))[:, PITCH]


# === The key choice (core) ===


def test_one_key_choice_steers_a_conditioned_model_and_snaps_only_when_asked():
    d_minor = KeyChoice("D", "minor")
    assert d_minor.settings(conditioned=True) == {"tonic": "D", "mode": "minor", "scale": None}
    snapped = KeyChoice("D", "minor", snap=True, snap_scale="harmonic minor")
    assert snapped.settings(conditioned=True) == {"tonic": "D", "mode": "minor", "scale": "D harmonic minor"}
    # Without key controls a model keeps a key only by snapping: choosing one snaps.
    assert d_minor.settings(conditioned=False) == {"tonic": None, "mode": None, "scale": "D minor"}
    assert KeyChoice().settings(conditioned=False) == {"tonic": None, "mode": None, "scale": None}
    assert d_minor.label == "D minor (dark)"
    assert len(key_choices(True)) == 24 and key_choices(False)[0] == KeyChoice()
    assert all(scale in SCALES for scales in SNAP_SCALES.values() for scale in scales)
    with pytest.raises(GenerationError, match="a major key snaps to"):
        KeyChoice("C", "major", snap=True, snap_scale="harmonic minor")
    with pytest.raises(GenerationError, match="unknown key centre"):
        KeyChoice("H", "major")


def test_a_warmed_up_composer_composes_every_warmed_length_without_compiling_again():
    composer = Composer.load(SHIPPED_CHECKPOINTS / "irish-lstm")
    settings = {**composer.defaults, "variations": 2}
    assert composer.warm_up(settings, bars=(1.0, 3.0)) == [1.0, 3.0]
    assert composer.warm_up(settings, bars=(1.0, 3.0), keep_going=iter([True, False]).__next__) == [1.0]
    sampler = composer.sampler[composer.defaults.get("strategy", "sample")]
    traced = sampler.compiled.experimental_get_tracing_count()
    for bars in (3.0, 1.0, 2.0):  # 2 bars shares 3 bars' buffer size
        composer.compose(CompositionRequest.from_settings({**settings, "bars": bars, "seed": 5}))
    assert sampler.compiled.experimental_get_tracing_count() == traced


# === The page ===


def test_generate_page_composes_with_the_shipped_checkpoint():
    at = _generate_page("bach-lstm")
    info = checkpoint_info(at.selectbox[0].value)  # chosen by folder
    assert info.name == "bach-lstm" and info.shipped
    assert any(c.value.startswith("lstm on bach") for c in at.caption)
    bounds = info.config.bounds
    assert any(c.value.startswith("This model's training music: notes C2 to A5") for c in at.caption)
    measured = info.config.compose_defaults
    # The music first, the machine-learning knobs under Advanced; the page starts from the measured settings.
    assert [w.label for w in at.selectbox][1:2] == ["Key"]
    advanced = next(e for e in at.expander if e.label == "Advanced")
    assert {"Top-p (nucleus)", "Top-k (0: off)", "Seed", "Length normalization"} <= {
        w.label for w in advanced.number_input
    }
    assert "Keep to the key and density" in [w.label for w in advanced.slider]
    assert _widget(at, "Boldness (temperature)").value == measured["temperature"]
    assert _widget(at, "Keep to the key and density").value == measured["guidance"]
    _widget(at, "Strategy").set_value("sample").run()
    _widget(at, "Seed").set_value(7)
    _widget(at, "Key").set_value(KeyChoice("D", "minor")).run()
    _compose(at)
    assert not at.error, [e.value for e in at.error]
    saved = list_pieces(limit=1)[0].parameters["controls"]
    assert (saved["mode"], saved["tonic"]) == ("minor", "D")
    assert _variations(at) == 2
    assert _players(at) == 2
    labels = [button.label for button in at.get("download_button")]
    assert labels.count("Download MIDI") == 2 and labels.count("Download WAV") == 2
    assert any("Saved to the library" in caption.value for caption in at.caption)
    assert at.dataframe[0].value["metric"].str.contains("Pitch range").any()
    for piece in list_pieces(limit=2):  # composed within the training music's bounds
        pitches = _pitches(piece)
        assert bounds.pitch_low <= pitches.min() and pitches.max() <= bounds.pitch_high
    # Each piece as sheet music, engraved once its view is opened.
    at.session_state["score-1-sheet-music"] = True
    at.run()
    sheet = next(e for e in at.expander if e.label == "Sheet music" and len(e.children))
    image, caption = sheet[0], sheet[1]
    assert image.proto.imgs[0].url.startswith("data:image/svg+xml") and caption.value.startswith("The first 8 bars")
    # A changed choice marks the pieces on screen as the earlier settings', and saves nothing again.
    _widget(at, "Tempo (BPM)").set_value(120).run()
    assert [i.value for i in at.info] == ["Composed with earlier settings: press Compose to hear the new ones."]
    assert _variations(at) == 2 and len(list_pieces()) == 2


def test_snapping_to_the_chosen_key_moves_every_note_into_it_for_both_kinds_of_model():
    """One key for steering and snapping: a conditioned model is steered to D minor and snapped to its harmonic
    minor; a model without key controls is snapped to the key chosen."""
    at = _generate_page("bach-lstm")
    _widget(at, "Key").set_value(KeyChoice("D", "minor")).run()
    _widget(at, "Length (bars)").set_value(2.0)
    _widget(at, "Snap notes into the key").check().run()
    _widget(at, "Scale to snap to").set_value("harmonic minor")
    _compose(at)
    piece = list_pieces(limit=1)[0]
    assert piece.parameters["post"]["scale"] == "D harmonic minor"
    assert (piece.parameters["controls"]["tonic"], piece.parameters["controls"]["mode"]) == ("D", "minor")
    assert set(_pitches(piece) % 12) <= scale_pitch_classes(2, "harmonic minor")

    at = _generate_page("bach-chords")  # trained without key controls
    assert _widget(at, "Key").value == KeyChoice()  # its own choice, until a key is picked
    assert "Snap notes into the key" not in [c.label for c in at.checkbox]
    _widget(at, "Key").set_value(KeyChoice("F#", "major")).run()
    _widget(at, "Length (bars)").set_value(2.0)
    _compose(at)
    piece = list_pieces(limit=1)[0]
    assert piece.parameters["post"]["scale"] == "F# major"
    assert set(_pitches(piece) % 12) <= scale_pitch_classes(6, "major")


def test_generate_page_composes_a_dark_sparse_fiddle_tune_with_the_irish_checkpoint():
    at = _generate_page("irish-lstm")
    assert any(c.value.startswith("lstm on irish") for c in at.caption)
    _widget(at, "Key").set_value(KeyChoice("E", "minor")).run()
    _widget(at, "Note density").set_value("sparse")
    _compose(at)
    assert not at.error, [e.value for e in at.error]
    assert _variations(at) >= 1
    saved = list_pieces(limit=1)[0]
    assert saved.model == "lstm" and saved.representation == "melody"
    controls = saved.parameters["controls"]
    assert (controls["tonic"], controls["mode"], controls["density"]) == ("E", "minor", "sparse")


@pytest.mark.parametrize(
    ("widgets", "flags"),
    [
        (
            {"Boldness (temperature)": 0.8, "Top-k (0: off)": 20, "Top-p (nucleus)": 0.9, "Seed": 7, "Pieces": 3},
            ["--temperature", "0.8", "--top-k", "20", "--top-p", "0.9", "--seed", "7", "--n", "3"],
        ),
        (
            {"Strategy": "beam", "Beam width": 3, "Length normalization": 0.5, "Pieces": 2},
            ["--beam", "3", "--length-penalty", "0.5", "--n", "2"],
        ),
    ],
)
def test_generate_page_and_cli_flags_give_the_same_sampling_config(widgets, flags, monkeypatch):
    """Both are built from SampleConfig's fields; settings a strategy ignores keep their defaults on the page.

    The page's request is caught on its way to the composer (composing itself is tested above).
    """
    from core.cli import build_parser
    from core.cli.generate import request_from_flags

    requests = []

    def catch(self, request):
        requests.append(request)
        raise GenerationError("caught by the test")

    monkeypatch.setattr(Composer, "compose", catch)
    at = _generate_page("bach-lstm")
    _widget(at, "Length (bars)").set_value(1.0)
    for label, value in widgets.items():
        _widget(at, label).set_value(value).run()
    _compose(at)
    assert [e.value for e in at.error] == ["caught by the test"]
    args = build_parser().parse_args(["generate", "--checkpoint", "c", "--out", "p.mid", *flags])
    # Both start from the checkpoint's measured settings.
    measured = checkpoint_info(SHIPPED_CHECKPOINTS / "bach-lstm").config.compose_defaults
    assert requests[-1].sampling == request_from_flags(args, measured).sampling


def test_a_bad_primer_shows_its_error_and_clears_the_earlier_pieces():
    at = _generate_page("irish-lstm")
    _widget(at, "Length (bars)").set_value(1.0)
    _compose(at)
    assert _variations(at) == 2
    _widget(at, "Continue from").set_value("Type notes").run()
    next(t for t in at.text_input if t.label == "Notes").set_value("C4 H9").run()
    _compose(at)
    assert any("'H9'" in e.value for e in at.error)
    # The earlier pieces would look like the answer to the failed request.
    assert _variations(at) == 0 and _players(at) == 0


def test_the_page_warms_the_model_up_in_the_background_once_for_every_session(monkeypatch):
    monkeypatch.setenv("NEUROTUNE_WARM_UP", "1")
    monkeypatch.setattr("core.generation.compose.WARM_UP_BARS", (1.0,))
    warmed = []
    original = Composer.warm_up

    def spy(self, settings, bars=None, keep_going=lambda: True):
        warmed.append((self, settings, threading.current_thread()))
        return original(self, settings, bars, keep_going)

    monkeypatch.setattr(Composer, "warm_up", spy)
    _generate_page("irish-lstm")
    at = _generate_page("irish-lstm")  # a second session: the same warm-up, not another
    # The model the page opens with, then the one chosen: each once, though two sessions opened it.
    names = [composer.info.name for composer, _, _ in warmed]
    assert names.count("irish-lstm") == 1 and len(names) == len(set(names))
    composer, settings, thread = warmed[names.index("irish-lstm")]
    assert thread is not threading.main_thread() and not thread.daemon and settings["variations"] == 2
    for _, _, warming in warmed:
        warming.join(timeout=120)
    sampler = composer.sampler[settings.get("strategy", "sample")]
    traced = sampler.compiled.experimental_get_tracing_count()
    _widget(at, "Length (bars)").set_value(1.0)
    _compose(at)
    assert _variations(at) == 2
    assert sampler.compiled.experimental_get_tracing_count() == traced  # the first Compose found it compiled
