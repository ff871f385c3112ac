"""Human review kept on the call record.

``service`` has the flow (record, decide once, finish what crashed), ``store``
the table and its open-review index, ``model`` the types, ``api`` the routes.
"""
