"""Roubles from Kie credits: the exchange rate, the markup and the free tier."""
