"""From raw MIDI to stored, windowed training data."""
