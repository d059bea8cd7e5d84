mod gomod_conformance;
