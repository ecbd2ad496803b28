"""The bureau's audit service: audit history, accounts and the web and REST front ends.

Needs the ``service`` extra (``pip install "compliance[service]"``): FastAPI, uvicorn, SQLAlchemy, Alembic.
"""
