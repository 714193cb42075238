"""The Streamlit dashboard: ``app.py`` (``st.navigation``) and one thin module per page.

Pages render what :mod:`rebalancer.usecases.reports` computes from the lake; data access goes
through :class:`dashboard._data.LakeConnection` (an ``st.connection`` over ``Lake.query``).
Run it with ``rebalancer dashboard``.
"""
