DROP INDEX notifications_mail_message;
ALTER TABLE notifications DROP COLUMN mail_message_id;
DROP TABLE mail_messages;
