"""Evidence exports, cases and masked renditions: footage taken out of Sightline, or shown, with faces,
plates or whole persons masked from what the event log knows (``render``, ``masks``)."""
