"""Code shared by the labsync sources: HTTP transport, paging, errors, run statistics."""
