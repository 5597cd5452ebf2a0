"""How a page's settings live: for the whole browser session, so that a presenter who switches pages comes back to
them, and in the URL's query parameters, so that a link reopens the page as it was (Streamlit's persist_state and
bind). Every settings widget takes **KEEP with its key; its key is the query parameter's name."""

KEEP: dict = {"persist_state": "session", "bind": "query-params"}
