"""Reading Common Crawl: WARC records (local, s3://, https://) and crawl manifests."""
