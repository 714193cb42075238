-- (follows book_base.sql) The symbols some account holds (quantity <> 0) with no price: the
-- accounts holding them show no value or drift.
SELECT DISTINCT symbol FROM valued WHERE unpriced ORDER BY symbol
