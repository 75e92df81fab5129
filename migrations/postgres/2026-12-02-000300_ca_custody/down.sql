DELETE FROM counters WHERE name = 'crl_number';
DROP TABLE ca_crls;
DROP TABLE ca_certificates;
