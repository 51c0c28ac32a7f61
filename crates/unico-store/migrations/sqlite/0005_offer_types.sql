-- Offer types (issue 6): besides a discount on one unit of a product, an offer can be on one
-- item of a category, a multi-buy ("buy 3, pay 2") or a reward on a whole basket ("spend
-- 40 €, get 4 € off"). Existing offers are one unit of a product.
ALTER TABLE offers ADD COLUMN target TEXT NOT NULL DEFAULT 'product';
ALTER TABLE offers ADD COLUMN category TEXT;
ALTER TABLE offers ADD COLUMN mechanic TEXT NOT NULL DEFAULT 'unit';
ALTER TABLE offers ADD COLUMN buy_units BIGINT NOT NULL DEFAULT 1;
ALTER TABLE offers ADD COLUMN pay_units BIGINT NOT NULL DEFAULT 1;
ALTER TABLE offers ADD COLUMN min_spend_cents BIGINT NOT NULL DEFAULT 0;
