"""Bounces and complaints: delivery-status (RFC 3464) and abuse (RFC 5965) reports, read over IMAP."""
