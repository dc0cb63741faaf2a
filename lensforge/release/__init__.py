"""lensforge release stage: immutable snapshots (build, diff), the dataset card and publishing to the Hub.

It sits between `instruct` (which writes the instructions a snapshot pairs with samples) and `finetune`
(which trains on a snapshot), so snapshot files are built here and nowhere else.
"""
