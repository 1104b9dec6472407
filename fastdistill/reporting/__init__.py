"""The end-of-run summary and the HTML report."""
