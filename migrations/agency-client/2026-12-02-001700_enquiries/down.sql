DROP TABLE received_enquiries;
