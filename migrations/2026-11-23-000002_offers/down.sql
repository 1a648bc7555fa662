DROP TABLE offer_audit;
DROP TABLE offers;
