"""A piano roll that plays: the piece's notes drawn beside its audio, with a playhead that follows it.

``st.plotly_chart`` and ``st.audio`` cannot see each other, so a listener cannot tell which notes sound
now. :func:`piano_roll_player` mounts a small Streamlit components v2 element (inline HTML/CSS/JS, no
build step, nothing fetched from the network) that draws the roll as SVG, in the same colours, legend,
bar lines and hover names as :func:`ui.charts.piano_roll_figure`, above the browser's own
``<audio controls>``. A line follows ``audio.currentTime`` on every animation frame while it plays;
clicking the roll moves the audio there. The notes are quantized and the audio is rendered from the
same notes at a constant tempo, so a step lasts ``60 / bpm / steps_per_quarter`` seconds throughout.

What the browser draws is built in Python by :func:`roll_data` (testable without a browser); the
element sends nothing back.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np
import streamlit as st
from pretty_midi import note_number_to_name

from core.data.piece import END, PITCH, START
from ui.charts import bar_lines, bar_number_step, note_labels, note_voices, voice_colours
from ui.listening import clip_id

_HTML = """
<figure class="nt-roll">
  <figcaption class="nt-title"></figcaption>
  <ul class="nt-legend" aria-label="Voices"></ul>
  <div class="nt-scroll"><svg class="nt-svg" role="img" xmlns="http://www.w3.org/2000/svg"></svg></div>
  <p class="nt-hover" aria-hidden="true">&nbsp;</p>
  <audio class="nt-audio" controls preload="auto"></audio>
</figure>
"""

_CSS = """
.nt-roll { margin: 0; font-family: var(--st-font); color: var(--st-text-color); }
.nt-title { font-weight: 600; margin-bottom: 0.25rem; }
.nt-title:empty { display: none; }
.nt-legend { list-style: none; display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; margin: 0 0 0.25rem 0;
             padding: 0; font-size: 0.875rem; }
.nt-legend:empty { display: none; }
.nt-swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.35em; border-radius: 2px;
             vertical-align: -0.05em; }
.nt-scroll { overflow-x: auto; overflow-y: hidden; }
.nt-svg { display: block; cursor: pointer; color: var(--st-text-color); }
.nt-svg text { fill: currentColor; font-size: 10px; opacity: 0.75; }
.nt-bar { stroke: currentColor; stroke-opacity: 0.45; }
.nt-beat { stroke: currentColor; stroke-opacity: 0.12; }
.nt-octave { stroke: currentColor; stroke-opacity: 0.12; stroke-dasharray: 2 3; }
.nt-primer { stroke: currentColor; stroke-opacity: 0.8; stroke-dasharray: 5 4; }
.nt-note:hover { stroke: currentColor; stroke-width: 1.5; }
.nt-playhead { stroke: var(--st-primary-color, #ff4b4b); stroke-width: 2; pointer-events: none; }
.nt-hover { margin: 0.15rem 0; font-size: 0.875rem; min-height: 1.3em; opacity: 0.85; }
.nt-audio { width: 100%; display: block; }
.nt-audio:focus-visible { outline: 2px solid var(--st-primary-color); outline-offset: 2px; }
"""

# One controller per mounted root; the audio is reloaded only when the clip changes, so a rerun of the
# page (which calls the default export again) neither restarts playback nor loses the position.
_JS = """
const SVG = "http://www.w3.org/2000/svg";
const GUTTER = 34;            // px at the left for the octave labels
const HEADER = 14;            // px at the top for the bar numbers
const MIN_PX_PER_QUARTER = 14;
const controllers = new WeakMap();

function base64ToBlob(text, mime) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Blob([bytes], { type: mime });
}

function node(name, attributes, parent) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (parent) parent.appendChild(element);
  return element;
}

class Controller {
  constructor(root) {
    this.root = root;
    this.audio = root.querySelector("audio");
    this.svg = root.querySelector("svg");
    this.scroll = root.querySelector(".nt-scroll");
    this.hover = root.querySelector(".nt-hover");
    this.clipId = null;
    this.url = null;
    this.frame = null;
    this.width = 0;
    this.handlers = {
      play: () => this.follow(),
      pause: () => this.place(),
      seeked: () => this.place(),
      timeupdate: () => { if (this.frame === null) this.place(); },
      ended: () => this.place(),
    };
    for (const [name, handler] of Object.entries(this.handlers)) this.audio.addEventListener(name, handler);
    this.onClick = (event) => this.seek(event);
    this.onOver = (event) => {
      const index = event.target.dataset ? event.target.dataset.note : undefined;
      if (index !== undefined) this.hover.textContent = this.data.labels[Number(index)];
    };
    this.svg.addEventListener("click", this.onClick);
    this.svg.addEventListener("pointerover", this.onOver);
    this.resize = new ResizeObserver(() => {
      if (this.data && this.scroll.clientWidth !== this.width) this.draw();
    });
    this.resize.observe(this.scroll);
  }

  update(data) {
    this.data = data;
    this.root.querySelector(".nt-title").textContent = data.title;
    this.audio.setAttribute("aria-label", data.title ? `Audio of ${data.title}` : "Audio of the piano roll");
    const legend = this.root.querySelector(".nt-legend");
    legend.replaceChildren();
    if (data.voices.length > 1) {
      for (const voice of data.voices) {
        const item = document.createElement("li");
        const swatch = document.createElement("span");
        swatch.className = "nt-swatch";
        swatch.style.background = voice.colour;
        item.append(swatch, document.createTextNode(voice.name));
        legend.appendChild(item);
      }
    }
    if (data.clip_id !== this.clipId) {
      if (this.url) URL.revokeObjectURL(this.url);
      this.clipId = data.clip_id;
      this.url = URL.createObjectURL(base64ToBlob(data.audio_base64, data.mime));
      this.audio.src = this.url;
    }
    this.draw();
  }

  draw() {
    const d = this.data;
    this.width = this.scroll.clientWidth;
    const quarters = d.total_steps / d.steps_per_quarter;
    this.pxPerStep = Math.max((this.width - GUTTER) / d.total_steps, MIN_PX_PER_QUARTER / d.steps_per_quarter);
    const rows = d.pitch_high - d.pitch_low + 1;
    this.row = Math.max(3, Math.min(10, Math.floor(240 / rows)));
    const width = GUTTER + d.total_steps * this.pxPerStep;
    const height = HEADER + rows * this.row;
    const svg = this.svg;
    svg.replaceChildren();
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("aria-label", d.description);
    const x = (step) => GUTTER + step * this.pxPerStep;
    const y = (pitch) => HEADER + (d.pitch_high - pitch) * this.row;
    const grid = node("g", {}, svg);
    for (let step = 0; step <= d.total_steps + 1e-9; step += d.beat_steps) {
      node("line", { class: "nt-beat", x1: x(step), x2: x(step), y1: HEADER, y2: height }, grid);
    }
    for (const [pitch, name] of d.octaves) {
      const top = y(pitch) + this.row;
      node("line", { class: "nt-octave", x1: GUTTER, x2: width, y1: top, y2: top }, grid);
      node("text", { x: 2, y: top - 1 }, grid).textContent = name;
    }
    d.bars.forEach((step, index) => {
      node("line", { class: "nt-bar", "data-bar": index + 1, x1: x(step), x2: x(step), y1: 0, y2: height }, grid);
      if (index < d.bars.length - 1 && index % d.bar_label_every === 0) {
        node("text", { x: x(step) + 3, y: HEADER - 3 }, grid).textContent = String(index + 1);
      }
    });
    if (d.primer_step) {
      node("line", { class: "nt-primer", x1: x(d.primer_step), x2: x(d.primer_step), y1: 0, y2: height }, grid);
    }
    const notes = node("g", {}, svg);
    d.notes.forEach(([start, end, pitch, voice], index) => {
      const rect = node("rect", {
        class: "nt-note", "data-note": index, x: x(start), y: y(pitch) + 0.5,
        width: Math.max(1, (end - start) * this.pxPerStep - 1), height: Math.max(1, this.row - 1),
        rx: 1.5, fill: d.voices[voice].colour,
      }, notes);
      node("title", {}, rect).textContent = d.labels[index];
    });
    this.playhead = node("line", { class: "nt-playhead", y1: 0, y2: height }, svg);
    this.place();
  }

  // The playhead at the audio's position: one step is seconds_per_step seconds of audio.
  place() {
    if (!this.playhead) return;
    const step = this.audio.currentTime / this.data.seconds_per_step;
    const position = GUTTER + step * this.pxPerStep;
    this.playhead.setAttribute("x1", position);
    this.playhead.setAttribute("x2", position);
    this.playhead.dataset.step = step.toFixed(3);
    if (!this.audio.paused) {
      const view = this.scroll;
      if (position < view.scrollLeft + GUTTER || position > view.scrollLeft + view.clientWidth - 24) {
        view.scrollLeft = Math.max(0, position - GUTTER - 24);
      }
    }
  }

  follow() {
    if (this.frame !== null) return;
    const tick = () => {
      this.place();
      this.frame = this.audio.paused || this.audio.ended ? null : requestAnimationFrame(tick);
    };
    this.frame = requestAnimationFrame(tick);
  }

  seek(event) {
    const box = this.svg.getBoundingClientRect();
    const step = Math.max(0, (event.clientX - box.left - GUTTER) / this.pxPerStep);
    const seconds = step * this.data.seconds_per_step;
    const duration = this.audio.duration;
    this.audio.currentTime = Number.isFinite(duration) ? Math.min(seconds, duration) : seconds;
    this.place();
  }

  dispose() {
    for (const [name, handler] of Object.entries(this.handlers)) this.audio.removeEventListener(name, handler);
    this.svg.removeEventListener("click", this.onClick);
    this.svg.removeEventListener("pointerover", this.onOver);
    this.resize.disconnect();
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.audio.pause();
    if (this.url) URL.revokeObjectURL(this.url);
  }
}

export default function (component) {
  const { data, parentElement } = component;
  const root = parentElement.querySelector(".nt-roll");
  if (!root || !data) return;
  let controller = controllers.get(root);
  if (!controller) {
    controller = new Controller(root);
    controllers.set(root, controller);
  }
  controller.update(data);
  return () => {
    if (controllers.get(root) !== controller) return;
    controllers.delete(root);
    controller.dispose();
  };
}
"""

_player = st.components.v2.component("neurotune.piano_roll_player", html=_HTML, css=_CSS, js=_JS)

# Bar numbers drawn: every bar up to this many, then every 2nd, 4th, ... bar (the roll scrolls, so more fit
# than on the Plotly figure).
MAX_BAR_NUMBERS = 32


def roll_data(
    notes: np.ndarray,
    steps_per_quarter: int,
    bpm: float,
    title: str = "",
    primer_steps: int = 0,
    *,
    programs: Sequence[int] | None = None,
    time_signature: tuple[int, int] = (4, 4),
) -> dict:
    """What the browser draws: notes, voices and colours, bar lines, and how long a step lasts.

    Voices, colours and hover labels are :mod:`ui.charts`' (:func:`~ui.charts.note_voices`), so the
    player and the Plotly figure read alike.

    Args:
        notes: shape=(n, 6) quantized notes, columns :data:`core.data.piece.NOTE_COLUMNS`.
        steps_per_quarter: Their grid.
        bpm: The tempo the audio was rendered at (quarter notes per minute).
        title: Shown as text above the roll (user text: never markup).
        primer_steps: Steps at the start a composition continued from; marked with a dashed line.
        programs: GM program per voice, top voice first, when known (a composition's).
        time_signature: Where the bar lines fall.

    Returns:
        JSON-able: ``notes`` (rows of start step, end step, pitch, voice index), ``labels`` (hover
        text per note), ``voices`` (name and colour), ``bars`` (bar lines in steps, the last closing
        the last bar), ``total_steps``, ``beat_steps``, ``seconds_per_step``, ``pitch_low`` and
        ``pitch_high``, ``octaves`` (pitch and name of each C), ``primer_step`` (None without one),
        ``bar_label_every``, ``title``, ``description`` and ``steps_per_quarter``.

    Raises:
        ValueError: ``bpm`` or ``steps_per_quarter`` is not positive, or the time signature is not.
    """
    if not bpm > 0:
        raise ValueError(f"bpm must be positive, got {bpm}.")
    if steps_per_quarter < 1:
        raise ValueError(f"steps_per_quarter must be at least 1, got {steps_per_quarter}.")
    notes = np.asarray(notes)
    group, names = note_voices(notes, programs)
    num_steps = int(notes[:, END].max()) if len(notes) else 0
    bars = bar_lines(num_steps, steps_per_quarter, time_signature) * steps_per_quarter
    low, high = (int(notes[:, PITCH].min()), int(notes[:, PITCH].max())) if len(notes) else (60, 72)
    low, high = low - 1, high + 1  # a row of air above and below
    voices = ", ".join(names) if names else "no notes"
    return {
        "title": title,
        "description": f"Piano roll: {len(notes)} notes in {len(bars) - 1} bars; {voices}. Click to play from there.",
        "notes": [
            [int(start), int(end), int(pitch), int(voice)]
            for start, end, pitch, voice in zip(notes[:, START], notes[:, END], notes[:, PITCH], group, strict=True)
        ],
        "labels": note_labels(notes, names, group, steps_per_quarter, time_signature),
        "voices": [{"name": name, "colour": colour} for name, colour in zip(names, voice_colours(names), strict=True)],
        "bars": [round(float(step), 6) for step in bars],
        "bar_label_every": bar_number_step(len(bars) - 1, MAX_BAR_NUMBERS),
        "total_steps": float(bars[-1]),
        "beat_steps": steps_per_quarter * 4 / time_signature[1],
        "steps_per_quarter": steps_per_quarter,
        "seconds_per_step": 60.0 / bpm / steps_per_quarter,
        "pitch_low": low,
        "pitch_high": high,
        "octaves": [[pitch, note_number_to_name(pitch)] for pitch in range(low, high + 1) if pitch % 12 == 0],
        "primer_step": int(primer_steps) if primer_steps else None,
    }


def piano_roll_player(
    notes: np.ndarray,
    steps_per_quarter: int,
    bpm: float,
    audio: bytes,
    mime: str,
    key: str,
    title: str = "",
    primer_steps: int = 0,
    *,
    programs: Sequence[int] | None = None,
    time_signature: tuple[int, int] = (4, 4),
) -> None:
    """Show the piece's piano roll above its audio player, with a playhead that follows playback.

    The audio travels inside the element (base64), as in :func:`ui.listening.played_audio`; the browser
    loads it again only when the clip changes.

    Args:
        notes: shape=(n, 6) quantized notes.
        steps_per_quarter: Their grid.
        bpm: The tempo ``audio`` was rendered at, so that a step lasts ``60 / bpm / steps_per_quarter`` s.
        audio: The rendered audio's file bytes (WAV, Ogg, FLAC), starting at step 0.
        mime: Their MIME type, e.g. ``"audio/ogg"`` (see ``core.audio.MIME_TYPES``).
        key: Unique per player on the page and stable across reruns.
        title: Shown above the roll, as text.
        primer_steps: Steps a composition continued from, marked on the roll.
        programs: GM program per voice, top voice first, when known: colours voice by voice.
        time_signature: Where the bar lines fall.

    Raises:
        ValueError: ``audio`` is empty, or :func:`roll_data` refuses the timing.
    """
    if not audio:
        raise ValueError("The piece has no audio bytes: render it before showing the player.")
    data = roll_data(
        notes,
        steps_per_quarter,
        bpm,
        title,
        primer_steps,
        programs=programs,
        time_signature=time_signature,
    )
    _player(
        key=key,
        data={
            **data,
            "audio_base64": base64.b64encode(audio).decode("ascii"),
            "mime": mime,
            "clip_id": clip_id(audio),
        },
    )
