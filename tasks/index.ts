import "./demo";
import "./deploy";
import "./token";
