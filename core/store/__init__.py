"""The database: SQLite by default, any SQLAlchemy URL for a team deployment.

The store knows nothing about Keras or numpy; it keeps records and JSON.
"""
