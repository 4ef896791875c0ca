"""marshmallow schemas of the documents: one module per part of the language."""
