"""Listening tests: blind surveys that people take in their browser, and the analysis a paper would print.

- :mod:`core.surveys.questions`   the question blocks (1-5 ratings, human or computer, A/B preference)
- :mod:`core.surveys.config`      a survey's settings (clip length, questions, playback required)
- :mod:`core.surveys.build`       create a survey from library and dataset pieces; open, close, duplicate
- :mod:`core.surveys.participants` join, resume by token, the items in each one's order, answer, finish
- :mod:`core.surveys.results`     the answers of a survey as one table, and its export
- :mod:`core.surveys.statistics`  pure functions on that table: intervals, tests, listener screening

No Streamlit and no TensorFlow here: the pages call these, and so can a notebook.
"""
