"""Quantization with tempo maps, filters, overlap removal and key normalization."""

from __future__ import annotations

import io

import numpy as np
import pretty_midi
import pytest
import symusic

from core.config import QUANTIZATIONS, DataConfig, stable_hash
from core.data.midi_io import load_score
from core.data.preprocess import QUANTIZERS, preprocess_midi, quantize, seconds_to_beats, tempo_changes
from core.errors import ConfigError, InvalidMidiError
from core.music.theory import estimate_key, shift_to_c
from tests.conftest import make_midi_bytes


def _midi(data: bytes) -> symusic.Score:
    return symusic.Score.from_midi(data)


def test_quantize_snaps_to_the_grid_at_constant_tempo():
    # 120 BPM: a 16th note (steps_per_quarter=4) lasts 0.125 s.
    midi = _midi(make_midi_bytes([(60, 0.0, 0.49), (64, 0.51, 0.76), (67, 0.9, 0.91)]))
    notes = quantize(midi, DataConfig(steps_per_quarter=4))
    assert notes[:, :3].tolist() == [[0, 4, 60], [4, 6, 64], [7, 8, 67]]  # the tiny note keeps one step


def test_on_a_grid_of_quarters_rounding_piles_a_voice_into_one_step_and_sounding_keeps_one_pitch_per_voice():
    # 120 BPM, a quarter is 0.5 s: a bass holds two bars' half; above it a quarter, two eighths, four
    # sixteenths (the first played a hair late, on beat 2) and a quarter ending a hair late.
    melody = [(60, 0, 0.5), (62, 0.5, 0.75), (64, 0.75, 1.0), (65, 1.02, 1.125), (67, 1.125, 1.25)]
    melody += [(69, 1.25, 1.375), (71, 1.375, 1.5), (72, 1.5, 2.02)]
    midi = _midi(make_midi_bytes([(48, 0, 2.0), *melody]))
    rounded = quantize(midi, DataConfig(steps_per_quarter=1))
    assert sorted(rounded[rounded[:, 0] == 2][:, 2].tolist()) == [64, 65, 67, 69]  # four pitches of one voice
    sounding = quantize(midi, DataConfig(steps_per_quarter=1, quantize="sounding"))
    assert sounding[:, :3].tolist() == [[0, 4, 48], [0, 1, 60], [1, 2, 62], [2, 3, 65], [3, 4, 72]]
    # Music on a grid as fine as its notes comes out the same either way.
    on_grid = _midi(make_midi_bytes([(48, 0, 2.0), (60, 0, 0.5), (62, 0.5, 0.75), (64, 0.75, 1.0), (65, 1.0, 1.125)]))
    sounding_fine = quantize(on_grid, DataConfig(steps_per_quarter=4, quantize="sounding"))
    assert np.array_equal(quantize(on_grid, DataConfig(steps_per_quarter=4)), sounding_fine)


def test_the_default_quantization_keeps_the_keys_of_earlier_builds():
    # The keys of the version before the choice: a file's preprocessing and a whole build's identity.
    assert DataConfig().cache_key() == "c75de865c2be9fdb"
    assert stable_hash(DataConfig().identity_dict()) == "0e6032ab8dad2d4c"
    assert stable_hash(DataConfig(steps_per_quarter=1, validation_fraction=0.2).identity_dict()) == "391df1c8cb868088"
    sounding = DataConfig(quantize="sounding")
    assert sounding.cache_key() != DataConfig().cache_key() and sounding.identity_dict()["quantize"] == "sounding"
    with pytest.raises(ConfigError, match="quantize must be one of nearest, sounding"):
        DataConfig(quantize="floor")
    assert set(QUANTIZERS) == set(QUANTIZATIONS)  # every choice offered has its way of quantizing
    # Other music is read onto a dataset's grid without its filters or transposition.
    kept = DataConfig(steps_per_quarter=1, quantize="sounding", min_notes=40, transpose_to_c=True).grid()
    assert kept == DataConfig(steps_per_quarter=1, quantize="sounding")


def _two_tempo_midi() -> bytes:
    """Tempo 120 for 4 beats, then 60; a note on beat 0 (half a beat) and on beat 4 (one beat)."""
    import mido

    ticks = 480
    track = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0),
            mido.Message("note_on", note=60, velocity=80, time=0),
            mido.Message("note_off", note=60, velocity=0, time=ticks // 2),
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(60), time=ticks * 7 // 2),
            mido.Message("note_on", note=62, velocity=80, time=0),
            mido.Message("note_off", note=62, velocity=0, time=ticks),
        ]
    )
    buffer = io.BytesIO()
    mido.MidiFile(ticks_per_beat=ticks, tracks=[track]).save(file=buffer)
    return buffer.getvalue()


def test_quantize_follows_tempo_changes():
    midi = _midi(_two_tempo_midi())
    # Beat 4 falls at 2 s (120 BPM), beat 5 at 3 s (60 BPM).
    assert np.allclose(seconds_to_beats(midi, np.array([0.0, 2.0, 3.0])), [0, 4, 5])
    notes = quantize(midi, DataConfig(steps_per_quarter=2))
    assert notes[:, :3].tolist() == [[0, 1, 60], [8, 10, 62]]


def test_drums_and_programs_are_filtered():
    midi = _midi(make_midi_bytes([(60, 0, 1)], program=40, drum_notes=[(36, 0, 1)]))
    assert len(quantize(midi, DataConfig())) == 1
    assert len(quantize(midi, DataConfig(drop_drums=False))) == 2
    assert len(quantize(midi, DataConfig(programs=(0,)))) == 0
    assert len(quantize(midi, DataConfig(programs=(40,)))) == 1


@pytest.mark.parametrize(
    ("pitches", "tonic", "mode"),
    [
        ([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60], 0, "major"),
        ([57, 59, 60, 62, 64, 65, 68, 69, 64, 60, 57], 9, "minor"),
        ([62, 64, 66, 67, 69, 71, 73, 74, 69, 66, 62], 2, "major"),
    ],
)
def test_key_estimation(pitches, tonic, mode):
    notes = np.array([[i * 4, i * 4 + 4, p, 80, 0, 0] for i, p in enumerate(pitches)])
    assert estimate_key(notes) == (tonic, mode)


def test_shift_to_c_takes_the_shortest_way():
    assert shift_to_c(2, "major") == -2  # D major -> C major
    assert shift_to_c(7, "major") == 5  # G major -> C major, up a fourth rather than down a fifth
    assert shift_to_c(4, "minor") == 5  # E minor -> A minor
    assert shift_to_c(9, "minor") == 0


def test_preprocess_normalizes_key_and_bins_velocities():
    d_major = [62, 64, 66, 67, 69, 71, 73, 74, 69, 66, 62]
    data = make_midi_bytes([(p, i * 0.5, i * 0.5 + 0.5) for i, p in enumerate(d_major)], velocity=77)
    config = DataConfig(transpose_to_c=True, velocity_bins=8)
    piece = preprocess_midi(load_score(data), "d.mid", config)
    assert piece.key == "C major"
    assert piece.notes[0, 2] == 60
    plain = preprocess_midi(load_score(data), "d.mid", DataConfig(velocity_bins=8))
    assert plain.key == "D major"
    assert len(set(plain.notes[:, 3])) == 1 and plain.notes[0, 3] != 77  # binned to the bin's representative


def test_leading_silence_is_dropped_in_whole_bars():
    data = make_midi_bytes([(60, 4.5 + i * 0.5, 5.0 + i * 0.5) for i in range(10)])  # 120 BPM: starts in bar 3
    piece = preprocess_midi(load_score(data), "late.mid", DataConfig(min_duration_seconds=0))
    assert piece.notes[0, 0] == 4  # 4.5 s = beat 9 = step 36; two whole bars (32 steps) removed


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (DataConfig(min_notes=20), "outside min_notes"),
        (DataConfig(min_duration_seconds=10), "under min_duration"),
        (DataConfig(max_duration_seconds=3), "over max_duration"),
        (DataConfig(max_silence_seconds=1), "silence"),
    ],
)
def test_filters_reject_with_the_filter_named(config, message):
    notes = [(60 + i, i * 0.5, i * 0.5 + 0.5) for i in range(8)] + [(60, 6.0, 6.5)]  # 2 s gap, 6.5 s long
    with pytest.raises(InvalidMidiError, match=message):
        preprocess_midi(load_score(make_midi_bytes(notes)), "x.mid", config)


@pytest.mark.parametrize(("key_number", "name"), [(14, "D minor"), (6, "F# major"), (15, "Eb minor"), (5, "F major")])
def test_declared_key_signature_is_kept_next_to_the_estimate(key_number, name):
    midi = pretty_midi.PrettyMIDI(
        io.BytesIO(make_midi_bytes([(62 + i % 8, i * 0.5, i * 0.5 + 0.5) for i in range(12)]))
    )
    midi.key_signature_changes.append(pretty_midi.KeySignature(key_number, 0.0))  # pretty_midi: 12-23 are minor
    piece = preprocess_midi(midi, "k.mid", DataConfig())  # a pretty_midi object is read through symusic
    assert piece.declared_key == name
    assert piece.meta()["declared_key"] == name


def test_tempi_are_read_as_pretty_midi_reads_them():
    data = _two_tempo_midi()
    assert tempo_changes(_midi(data)) == pretty_midi.PrettyMIDI(io.BytesIO(data)).get_tempo_changes()[1].tolist()
    assert tempo_changes(_midi(data)) == [120.0, 60.0]
    late = symusic.Score(480)
    late.tempos.extend([symusic.Tempo(480, qpm=100.0), symusic.Tempo(960, qpm=100.0)])
    assert tempo_changes(late) == [120.0, 100.0]  # 120 until the first tempo event; a repeat is dropped
