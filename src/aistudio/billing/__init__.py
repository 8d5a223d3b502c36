"""Money: the append-only ledger of integer kopecks, and what moves money (payments, promo, referrals)."""
