// The tests of a layer import its support library alone: the layers' support below comes with it.
@_exported import TestSupport
