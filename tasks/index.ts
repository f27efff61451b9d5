import "./channels";
import "./demo";
import "./deploy";
import "./devices";
import "./network";
import "./reputation";
import "./token";
import "./wallets";
