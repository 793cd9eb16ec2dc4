"""Tables, figures and the HTML report made from the metrics and reconstructions."""
