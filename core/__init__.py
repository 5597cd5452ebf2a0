"""Core of the transfer-learning dashboard: models, weights, data, metrics. Never imports streamlit."""
