"""Archive: issue manifests, the archive index and feed, pages written back into the site."""
