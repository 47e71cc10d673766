"""Library page: every saved piece, found by model, data, date and settings; played, downloaded, renamed, deleted."""

import hashlib

import streamlit as st

from core.errors import NeuroTuneError
from core.store import library
from ui.auth import require_admin
from ui.library import filter_form, linked_piece, pieces_frame, show_piece
from ui.text import show_error

st.title("🗂️ Library")
st.markdown(
    "Every variation composed on the Generate page is kept here with the model and settings that made it, "
    "ready for listening tests and evaluation. Select rows to download them together or to look at them below."
)

everything = library.list_pieces()
if not everything:
    st.info("The library is empty: compose something on the Generate page and every variation is saved here.")
    st.page_link("pages/generate.py", label="Compose on the Generate page", icon="🎹")
    st.stop()

linked = linked_piece()
pieces = library.list_pieces(filter_form(everything))
st.caption(f"{len(pieces)} of {len(everything)} pieces")
if not pieces:
    st.info("No piece matches these filters.")
    st.stop()

# Keyed by the pieces listed, so that a new filter starts a new selection rather than keep row numbers of the old.
listed = hashlib.sha256("".join(piece.id for piece in pieces).encode()).hexdigest()[:16]
table = st.dataframe(
    pieces_frame(pieces),
    hide_index=True,
    on_select="rerun",
    selection_mode="multi-row",
    key=f"library-table-{listed}",
)
selected = [pieces[row] for row in table.selection.rows if row < len(pieces)]
chosen = selected or pieces
st.download_button(
    f"Download the {len(chosen)} {'selected' if selected else 'listed'} as a zip",
    lambda: library.pieces_zip(chosen),  # made when pressed: MIDI, kept audio and pieces.json
    "neurotune-pieces.zip",
    "application/zip",
    on_click="ignore",
    help="MIDI and audio of each piece, with pieces.json saying what made it",
)

st.divider()
by_id = {piece.id: piece for piece in chosen}
if linked is not None:  # the piece a link opened the page on (the Evaluate page's originality table): first
    by_id = {linked.id: linked, **by_id}
piece = by_id[st.selectbox("Piece", list(by_id), format_func=lambda piece_id: by_id[piece_id].title)]
show_piece(piece)

with st.expander("Rename or delete"):
    if require_admin("Renaming or deleting a piece", "library"):
        left, right = st.columns(2)
        new_title = left.text_input("New title", piece.title, key=f"title-{piece.id}")
        if left.button("Rename"):
            try:
                library.rename_piece(piece.id, new_title)
                st.rerun()
            except NeuroTuneError as error:
                show_error(error)
        sure = right.checkbox("I want to delete this piece and its files", key=f"sure-{piece.id}")
        if right.button("Delete piece", disabled=not sure):
            try:
                library.delete_piece(piece.id)
                st.rerun()
            except NeuroTuneError as error:  # deleted meanwhile in another tab
                show_error(error)
