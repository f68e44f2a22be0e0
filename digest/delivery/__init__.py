"""Delivery: each subscriber's message (`message`), the backends that send it (`smtp`, `file`,
`memory`, one contract in `base`), the recipients, and the sender's claim loop (`sender`).

Delivery imports no other stage: the pipeline hands the sender the outbox to record in
(`ports.OutboxPort`), the render function, the clock, the secrets and the progress to show.
Import what you need from its module (`digest.delivery.smtp.SmtpBackend`): the package
itself loads nothing, so `digest build` does not pay for smtplib.
"""
