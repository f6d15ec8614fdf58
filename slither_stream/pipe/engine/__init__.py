"""The stage engine: one loop per stage and what it is made of.

Internal to slither-stream (free to change between releases). The loop
(:mod:`.loop`) polls a batch, decodes it (:mod:`.envelope`), processes it
(:mod:`.processors`, :mod:`.planning`), hands its writes to the stage's commit
strategy (:mod:`.commit`) and lets the strategy decide when and how to commit.
"""
