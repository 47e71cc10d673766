"""Music theory shared by data, generation and evaluation: pitch names, keys and scales. Numpy only."""
