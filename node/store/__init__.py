"""The storage seam: narrow protocols, the values that cross them, and the stores behind them."""
