DROP TABLE cluster_leases;
DROP TABLE platform_secrets;
