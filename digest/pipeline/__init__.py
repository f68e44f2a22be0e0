"""The order of the stages, and the only place that knows it.

`build`: scan → select → summarize → render → write (and a scheduled tick's issue).
`send`: recipients → outbox → sender → archive.
Import the module you need (`digest.pipeline.build`, `digest.pipeline.send`, …): this package
imports none of them, so a build does not load the sender and a send does not load the scanner
(pipeline.build's imports cost a sender ~55 ms of start-up). The CLI and the schedule runner
call these functions; the stages never call each other.
"""
