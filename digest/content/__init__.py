"""Content: files → Article (walk, scan, front matter, fields, dates, permalinks, a site's own config)."""
