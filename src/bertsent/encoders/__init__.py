"""Below the models: tokenisation, pre-trained loading, heads, the batching engine and
export records."""
