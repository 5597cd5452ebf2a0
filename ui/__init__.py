"""Streamlit glue shared by the pages: sidebar, caches, small widgets. Kept small on purpose."""
