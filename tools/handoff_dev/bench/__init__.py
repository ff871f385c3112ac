"""``make bench``: figures (not pass/fail) for the README's Performance section.

Every figure is a median of repeated runs and, where it has one, a ratio
against a floor measured in the same run, because these machines are shared
and noisy: an absolute millisecond means little, a ratio to ``import boto3``
on the same machine in the same minute means something.
"""
