"""A player that knows how much of a clip was actually heard: the gate in front of a listening-test rating.

A rating is only worth something if the participant listened, so a survey asks before it accepts one.
``st.audio`` cannot say, and an "I listened" checkbox is an honour system. :func:`played_audio` mounts a
small Streamlit components v2 element (inline HTML/CSS/JS, no build step, nothing fetched from the
network) around the browser's own ``<audio controls>`` and reports back the share of the clip that was
*played*: the union of the time ranges the browser rendered (``HTMLMediaElement.played``), so dragging
the playhead to the end counts for nothing and replaying a passage counts once. Playback speed is held
at 1x for the same reason.

The browser reports when the required share is first reached, when playback pauses or ends, and every
few seconds while it plays; each report reruns the script (only the enclosing fragment when the player
sits in an ``@st.fragment``). The share is what the browser says: enough to keep honest participants
honest, not proof against one who edits the page; the survey's own screening (answers given faster
than the clips last) covers the rest.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import streamlit as st

from core.surveys.config import PLAYED_SHARE_TOLERANCE

# Within this much of the required share counts as reached: the browser's first and last played
# ranges can miss a few milliseconds of the clip, which must not lock a rating that was earned.
SHARE_TOLERANCE = PLAYED_SHARE_TOLERANCE
DEFAULT_REQUIRED_SHARE = 0.9
DEFAULT_REPORT_EVERY_SECONDS = 3.0
# The one state key the browser writes; its value is a small JSON object (see parse_play_state).
_STATE_KEY = "playback"

_HTML = """
<figure class="nt-player">
  <figcaption class="nt-label" id="nt-label"></figcaption>
  <audio class="nt-audio" controls preload="auto" controlslist="nodownload noplaybackrate"
         aria-labelledby="nt-label" aria-describedby="nt-progress"></audio>
  <p class="nt-progress" id="nt-progress"></p>
  <p class="nt-announce" role="status" aria-live="polite"></p>
</figure>
"""

_CSS = """
.nt-player { margin: 0; font-family: var(--st-font); color: var(--st-text-color); }
.nt-label { font-weight: 600; margin-bottom: 0.25rem; }
.nt-audio { width: 100%; display: block; }
.nt-audio:focus-visible { outline: 2px solid var(--st-primary-color); outline-offset: 2px; }
.nt-progress { margin: 0.25rem 0 0 0; font-size: 0.875rem; opacity: 0.8; }
.nt-announce { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
"""

# One controller per <audio> element, and the played ranges per player and clip for the life of the page:
# Streamlit calls the default export again whenever the element's inputs change and mounts it afresh when a
# page hides and shows the player; neither may forget what was already heard, nor restart the clip.
_JS = """
const progressByPlayer = new Map();
const controllers = new WeakMap();

function union(ranges) {
  const sorted = ranges.filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const [start, end] of sorted) {
    const last = merged[merged.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

function base64ToBlob(text, mime) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Blob([bytes], { type: mime });
}

class Controller {
  constructor(root) {
    this.audio = root.querySelector("audio");
    this.labelNode = root.querySelector(".nt-label");
    this.progressNode = root.querySelector(".nt-progress");
    this.announceNode = root.querySelector(".nt-announce");
    this.clipId = null;
    this.url = null;
    this.lastSent = null;
    this.lastSentAt = 0;
    this.reportScheduled = false;
    this.handlers = {
      timeupdate: () => this.collect(false),
      pause: () => this.collect(true),
      seeked: () => this.collect(false),
      ended: () => { this.progress.ended = true; this.collect(true); },
      loadedmetadata: () => this.collect(false),
      play: () => { this.lastSentAt = Date.now(); },
      ratechange: () => { if (this.audio.playbackRate !== 1) this.audio.playbackRate = 1; },
    };
    for (const [name, handler] of Object.entries(this.handlers)) this.audio.addEventListener(name, handler);
  }

  update(data, setStateValue) {
    this.setStateValue = setStateValue;
    this.required = data.required_share;
    this.reportEveryMs = data.report_every_s * 1000;
    this.labelNode.textContent = data.label;
    if (data.clip_id === this.clipId) return;
    if (this.url) URL.revokeObjectURL(this.url);
    this.clipId = data.clip_id;
    const progressKey = JSON.stringify([data.player_key, data.clip_id]);
    if (!progressByPlayer.has(progressKey)) progressByPlayer.set(progressKey, { ranges: [], ended: false });
    this.progress = progressByPlayer.get(progressKey);
    this.wasReached = false;
    this.url = URL.createObjectURL(base64ToBlob(data.audio_base64, data.mime));
    this.audio.src = this.url;
    this.render();
  }

  share() {
    const duration = this.audio.duration;
    if (!Number.isFinite(duration) || duration <= 0) return 0;
    const heard = this.progress.ranges.reduce((total, [s, e]) => total + (e - s), 0);
    return Math.min(1, heard / duration);
  }

  collect(forceReport) {
    const played = this.audio.played;
    const ranges = this.progress.ranges.slice();
    for (let i = 0; i < played.length; i++) ranges.push([played.start(i), played.end(i)]);
    this.progress.ranges = union(ranges);
    const reached = this.share() + __TOLERANCE__ >= this.required;
    const due = !this.audio.paused && Date.now() - this.lastSentAt >= this.reportEveryMs;
    if (forceReport || due || (reached && !this.wasReached)) this.scheduleReport();
    if (reached && !this.wasReached) this.announceNode.textContent = "Listened enough: you can now rate this clip.";
    this.wasReached = reached;
    this.render();
  }

  // "pause" and "ended" arrive together at the end of a clip: one report (one rerun) for both.
  scheduleReport() {
    if (this.reportScheduled) return;
    this.reportScheduled = true;
    setTimeout(() => { this.reportScheduled = false; this.report(); }, 0);
  }

  report() {
    const duration = this.audio.duration;
    const payload = {
      clip_id: this.clipId,
      played_share: Math.round(this.share() * 10000) / 10000,
      ended: this.progress.ended,
      listened_s: Math.round(this.progress.ranges.reduce((t, [s, e]) => t + (e - s), 0) * 1000) / 1000,
      duration_s: Number.isFinite(duration) ? Math.round(duration * 1000) / 1000 : null,
    };
    const text = JSON.stringify(payload);
    if (text === this.lastSent) return;
    this.lastSent = text;
    this.lastSentAt = Date.now();
    this.setStateValue("__STATE_KEY__", payload);
  }

  render() {
    const percent = Math.floor(this.share() * 100);
    const needed = Math.round(this.required * 100);
    this.progressNode.textContent = this.share() + __TOLERANCE__ >= this.required
      ? `Listened: ${percent}% of the clip. You can rate it now.`
      : `Listened: ${percent}% of the clip (${needed}% needed before rating).`;
  }

  dispose() {
    for (const [name, handler] of Object.entries(this.handlers)) this.audio.removeEventListener(name, handler);
    this.audio.pause();
    if (this.url) URL.revokeObjectURL(this.url);
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const root = parentElement.querySelector(".nt-player");
  if (!root || !data) return;
  let controller = controllers.get(root);
  if (!controller) {
    controller = new Controller(root);
    controllers.set(root, controller);
  }
  controller.update(data, setStateValue);
  return () => {
    if (controllers.get(root) !== controller) return;
    controllers.delete(root);
    controller.dispose();
  };
}
""".replace("__TOLERANCE__", repr(SHARE_TOLERANCE)).replace("__STATE_KEY__", _STATE_KEY)

_player = st.components.v2.component("neurotune.played_audio", html=_HTML, css=_CSS, js=_JS)


@dataclass(frozen=True)
class PlayState:
    """How much of one clip the browser played, as last reported.

    Attributes:
        played_share: Share of the clip's duration covered by played time ranges, in [0, 1]; seeking
            adds nothing, replaying adds nothing.
        ended: Whether playback ever ran into the clip's end (which alone does not mean it was heard).
        required_share: The share a rating needs, as asked of :func:`played_audio`.
        listened_seconds: Seconds of the clip covered by played ranges.
        duration_seconds: The clip's length as the browser decoded it, or None before it loaded.
    """

    played_share: float = 0.0
    ended: bool = False
    required_share: float = DEFAULT_REQUIRED_SHARE
    listened_seconds: float = 0.0
    duration_seconds: float | None = None

    @property
    def reached_required(self) -> bool:
        """Whether enough of the clip was heard to accept a rating (within :data:`SHARE_TOLERANCE`)."""
        return self.played_share + SHARE_TOLERANCE >= self.required_share


def clip_id(audio: bytes) -> str:
    """A short fingerprint of the clip's bytes.

    A report carries it, so that a player key reused for another clip never passes on the first
    clip's progress.
    """
    return hashlib.sha256(audio).hexdigest()[:16]


def _finite_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_play_state(raw: object, expected_clip_id: str, required_share: float) -> PlayState:
    """Turn what the browser reported into a :class:`PlayState`, trusting nothing about its shape.

    Args:
        raw: The component's ``playback`` state: None before the first report, else a mapping with
            ``clip_id``, ``played_share``, ``ended``, ``listened_s`` and ``duration_s``.
        expected_clip_id: :func:`clip_id` of the clip now shown; a report about another clip counts
            as nothing played.
        required_share: The share a rating needs.

    Returns:
        The state; nothing played when ``raw`` is missing, malformed or about another clip. The share
        is clamped to [0, 1].
    """
    nothing = PlayState(required_share=required_share)
    if not isinstance(raw, Mapping) or raw.get("clip_id") != expected_clip_id:
        return nothing
    share = _finite_number(raw.get("played_share"))
    if share is None:
        return nothing
    listened = _finite_number(raw.get("listened_s"))
    duration = _finite_number(raw.get("duration_s"))
    return PlayState(
        played_share=min(1.0, max(0.0, share)),
        ended=raw.get("ended") is True,
        required_share=required_share,
        listened_seconds=max(0.0, listened) if listened is not None else 0.0,
        duration_seconds=duration if duration is not None and duration > 0 else None,
    )


def played_audio(
    audio: bytes,
    mime: str,
    key: str,
    *,
    label: str = "Clip",
    required_share: float = DEFAULT_REQUIRED_SHARE,
    report_every_s: float = DEFAULT_REPORT_EVERY_SECONDS,
    on_change: Callable[[], None] | None = None,
) -> PlayState:
    """Show an accessible audio player and return how much of the clip this browser has played.

    The bytes travel inside the element (base64); Streamlit's forward-message cache sends an
    unchanged element to a browser only once, so the reruns that reports cause do not resend them. Put the player in an ``@st.fragment`` when its reports should rerun only the
    fragment.

    Args:
        audio: The clip's file bytes (WAV, Ogg, FLAC, ...), as a browser can decode them.
        mime: Their MIME type, e.g. ``"audio/wav"`` (see ``core.audio.MIME_TYPES``).
        key: Unique per player on the page and stable across reruns: the progress is kept under it.
        label: The visible name of the player, which screen readers announce for it (e.g. "Clip 3 of 10").
        required_share: Share of the clip, in (0, 1], that must be played before a rating counts.
        report_every_s: How often, in seconds of playback, the browser reports while playing.
        on_change: Called (as a widget callback) whenever the browser reports new progress.

    Returns:
        The last reported :class:`PlayState` for this clip; nothing played before the first report.

    Raises:
        ValueError: ``audio`` is empty, ``required_share`` is outside (0, 1] or ``report_every_s``
            is not positive.
    """
    if not audio:
        raise ValueError("The clip has no audio bytes: render it before showing the player.")
    if not 0 < required_share <= 1:
        raise ValueError(f"required_share must be in (0, 1], got {required_share}.")
    if not report_every_s > 0:
        raise ValueError(f"report_every_s must be positive, got {report_every_s}.")
    fingerprint = clip_id(audio)
    result = _player(
        key=key,
        data={
            "audio_base64": base64.b64encode(audio).decode("ascii"),
            "mime": mime,
            "clip_id": fingerprint,
            "player_key": key,
            "label": label,
            "required_share": required_share,
            "report_every_s": report_every_s,
        },
        **{f"on_{_STATE_KEY}_change": on_change or _ignore},
    )
    return parse_play_state(result.get(_STATE_KEY), fingerprint, required_share)


def _ignore() -> None:
    """The callback that declares the ``playback`` state key when the page passes none."""
