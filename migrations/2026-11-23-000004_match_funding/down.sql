DROP TABLE pledge_matches;
DROP TABLE match_applications;
DROP TABLE funds;
