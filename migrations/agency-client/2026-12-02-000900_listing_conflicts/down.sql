DROP TABLE listing_conflicts;
