"""Shared Streamlit widgets and plotly figures; the only place besides pages/ that imports streamlit."""
