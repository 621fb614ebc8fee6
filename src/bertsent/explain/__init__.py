"""Why the model decides: attention, attributions, embedding maps and the worked example."""
