DROP TABLE listing_prices;
