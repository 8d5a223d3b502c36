"""Growth: promo codes, referrals and the welcome bonus. Plain domain code: no Telegram, no HTTP."""
