"""Match: find the record a caller talked about before any workflow runs.

``normalise`` cleans what the call gives, ``identity`` gathers it into a
``CallerIdentity``, ``sources`` asks every tool concurrently within a time
budget and ``scoring`` ranks what came back with the evidence behind it.
"""
