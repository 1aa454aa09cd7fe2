"""policyfacts: economic-policy facts with the sentence they come from."""

__version__ = "0.1.0"
